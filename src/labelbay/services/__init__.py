"""Domain services: plain functions with keyword-only arguments. The caller owns the transaction."""
