from django import forms

from apps.core.events import EVENT_TYPES
from apps.webhooks.models import NotificationPreferences

EVENT_CHOICES = list(EVENT_TYPES.items())


class WebhookForm(forms.Form):
    url = forms.URLField(
        label="URL", max_length=2000, assume_scheme="https",
        help_text="http(s) only; it must resolve to public addresses.",
    )  # fmt: skip
    events = forms.MultipleChoiceField(
        label="Events", choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    description = forms.CharField(label="Description", max_length=120, required=False)


class WebhookEditForm(WebhookForm):
    active = forms.BooleanField(label="Active", required=False)


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = NotificationPreferences
        fields = [
            "campaign_started", "campaign_completed", "campaign_failed", "campaign_auto_paused",
            "low_balance", "daily_summary",
        ]  # fmt: skip
        labels = {
            "campaign_started": "A campaign started",
            "campaign_completed": "A campaign completed",
            "campaign_failed": "A campaign failed",
            "campaign_auto_paused": "A campaign was paused automatically (guardrail, engine)",
            "low_balance": "A funding wallet runs low",
            "daily_summary": "Daily summary of the last 24 hours",
        }
