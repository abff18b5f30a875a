"""Shared helpers of the components: IAM documents, tags, providers, notifications."""
