"""Receiving image files: streamed multipart parsing, file-name hygiene and image validation."""
