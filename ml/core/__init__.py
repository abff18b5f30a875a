"""The Pulumi-free, BentoML-free core both ml/ and infra/ read: identity, paths, params, features,
error formatting, config files (YAML), AWS regions, the artifact and prediction-log layouts, S3
access."""
