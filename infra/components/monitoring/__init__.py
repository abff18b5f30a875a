"""Monitoring: the Prometheus stack, DCGM exporter and Pushgateway, with the alert rules and dashboards kept here as data."""
