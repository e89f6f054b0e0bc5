"""Profiles: upload parsing (upload.py), default seeding (seed.py), the feature cache
(features.py), the V0 scorer over stored profiles (scorer.py) and profile changes (service.py)."""
