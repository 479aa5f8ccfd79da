"""Actions over several contacts: merge and bulk actions."""
