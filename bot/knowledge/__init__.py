"""Ingestion (a loader per format, CRM header mapping), the Chroma store and retrieval."""
