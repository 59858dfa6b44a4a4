from django import template
from django.utils.crypto import salted_hmac

register = template.Library()


@register.simple_tag(takes_context=True)
def queue_account(context: template.Context) -> str:
    """Which account a reading kept on the phone belongs to: sent only while that account is
    signed in (a shared phone). A keyed digest, so the page does not show the account's id."""
    user = context["request"].user
    if not user.is_authenticated:
        return ""
    return salted_hmac("autolettura.webapp.queue", str(user.pk)).hexdigest()[:24]
