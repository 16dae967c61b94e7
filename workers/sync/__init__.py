"""The sync pipeline: pull into the mirror, frames, segment, diff, write, runs and their history."""
