"""A contact's identities in inboxes: attach, contactable inboxes, find by source id."""
