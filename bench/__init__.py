"""The performance harness: `bench/run` (see bench/README.md). Not part of `make test`."""
