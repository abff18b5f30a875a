"""The Pulumi-free, BentoML-free core that both ml/ and infra/ read: identity, paths, params,
features, artifact layout."""
