"""Importing images from an S3 bucket/prefix or a local folder: by reference or by copy, and
incrementally (`service.run_import`)."""
