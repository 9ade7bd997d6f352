"""The dashboard's web layer: the FastAPI app, its charts and labels."""
