"""ORM models; importing this package registers every table on Base.metadata."""

from contactdesk.models.account import Account, AccountUser, Role
from contactdesk.models.api_key import ApiKey
from contactdesk.models.contact import Contact
from contactdesk.models.contact_import import ContactImport, ContactImportChunk, ContactImportError
from contactdesk.models.counter import ContactCounter, LabelCounter
from contactdesk.models.custom_attribute import CustomAttributeDefinition
from contactdesk.models.delivery import WebhookDelivery
from contactdesk.models.event import Event
from contactdesk.models.inbox import ContactInbox, Inbox
from contactdesk.models.label import ContactLabel, Label
from contactdesk.models.user import AccessToken, User
from contactdesk.models.webhook import Webhook

__all__ = [
    "AccessToken",
    "Account",
    "AccountUser",
    "ApiKey",
    "Contact",
    "ContactCounter",
    "ContactImport",
    "ContactImportChunk",
    "ContactImportError",
    "ContactInbox",
    "ContactLabel",
    "CustomAttributeDefinition",
    "Event",
    "Inbox",
    "Label",
    "LabelCounter",
    "Role",
    "User",
    "Webhook",
    "WebhookDelivery",
]
