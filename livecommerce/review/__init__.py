"""The post-stream review: what a broadcast (or a campaign of them) did, minute by minute, and how it compares."""
