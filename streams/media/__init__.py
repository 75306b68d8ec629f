"""Where a stream airs: the link to its live room on its platform and, where given, an HLS pull URL the page plays."""
