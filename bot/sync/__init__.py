"""Live CRM sync: connectors read a CRM's API incrementally; the runner feeds what changed through the same
mapping, linking, documents and idempotent ingest as the exports."""
