"""The channels' webhooks, under /channels/ (see the README for connecting each provider)."""

from django.urls import path

from autolettura.channels import phone, sms, whatsapp

app_name = "channels"

urlpatterns = [
    # Twilio voice: the number's "A call comes in" webhook, each prompt's answer, call status.
    path("phone/voice", phone.voice, name="phone-voice"),
    path("phone/step", phone.step, name="phone-step"),
    path("phone/status", phone.status, name="phone-status"),
    # WhatsApp Business Cloud API: the app's webhook (GET handshake, POST messages).
    path("whatsapp/webhook", whatsapp.webhook, name="whatsapp-webhook"),
    # Twilio Messaging: the number's "A message comes in" webhook.
    path("sms/webhook", sms.twilio_webhook, name="sms-webhook"),
]
