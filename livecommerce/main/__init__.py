"""The composition root: app factory, CLI, demo loader and cluster runner; imports everything, imported by nothing."""
