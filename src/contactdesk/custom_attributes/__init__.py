"""Custom attribute definitions and the validation of contacts' custom attributes."""
