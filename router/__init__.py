"""V0 Gateway: an OpenAI-compatible gateway that routes each request to the cheapest likely-good model."""
