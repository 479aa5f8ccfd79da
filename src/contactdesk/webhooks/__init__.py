"""An account's webhook endpoints: their API, the checks on their URLs, their secrets."""
