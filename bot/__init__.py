"""A Slack assistant for B2B revenue teams."""
