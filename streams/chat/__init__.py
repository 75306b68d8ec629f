"""In-stream chat: messages in the stream's event log, moderation by its hosts and organizers."""
