"""The work, with no Slack types: answering, briefs, drafts, campaigns, triage, evaluation."""
