"""Contact events: written with every change (the outbox), placed in the account's feed once
committed, read by GET /events and delivered to webhooks."""
