"""Monitoring: the Prometheus stack, DCGM exporter and Pushgateway, with the alert rules and
dashboards kept here as data.

Callers import from the submodules (`component`, `args`, `names`): infra.settings imports
`alert_rules`, so this package must not pull the settings-dependent component in on import.
"""
