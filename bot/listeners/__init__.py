"""One module per Slack surface, each with register(app, ...)."""
