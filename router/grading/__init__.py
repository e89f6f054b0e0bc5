"""The learning loop, off the request path: judge grading, shadow calls, cold-start priors."""
