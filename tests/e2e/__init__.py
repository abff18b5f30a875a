"""End-to-end suites (marked slow): the whole pipeline, make run's demo, DVC against S3, the
monitoring loop."""
