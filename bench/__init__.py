"""contactdesk benchmark: load realistic contacts, drive the real server with wrk."""
