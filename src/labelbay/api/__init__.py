"""The HTTP API: FastAPI app, dependencies, schemas and routes."""
