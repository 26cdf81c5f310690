"""Events (feed rows with per-partner positions and per-transfer sequences), delivery claims,
self-service endpoint fields, and signing secrets encrypted at rest.

Existing rows are carried over: each old delivery's payload becomes an event of its partner,
each plaintext secret is re-written encrypted, each endpoint gets its public id.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models

import gateway.common.crypto
import gateway.webhooks.models

OLD_MAX_ATTEMPTS = 8


def endpoints_forward(apps, schema_editor):
    endpoint_model = apps.get_model("webhooks", "WebhookEndpoint")
    for endpoint in endpoint_model.objects.all():
        endpoint.public_id = uuid.uuid4()
        endpoint.secret_encrypted = endpoint.secret
        endpoint.save(update_fields=["public_id", "secret_encrypted"])


def deliveries_forward(apps, schema_editor):
    delivery_model = apps.get_model("webhooks", "WebhookDelivery")
    event_model = apps.get_model("webhooks", "WebhookEvent")
    counter_model = apps.get_model("webhooks", "WebhookCounter")
    positions: dict[int, int] = {}
    for delivery in delivery_model.objects.select_related("endpoint").order_by("pk"):
        partner_id = delivery.endpoint.partner_id
        positions[partner_id] = positions.get(partner_id, 0) + 1
        event = event_model.objects.create(
            partner_id=partner_id, position=positions[partner_id],
            event_type=delivery.event_type, payload=delivery.payload,
            created_at=delivery.created_at)
        delivery.event = event
        delivery.max_attempts = max(OLD_MAX_ATTEMPTS, delivery.attempts)
        delivery.save(update_fields=["event", "max_attempts"])
    for partner_id, position in positions.items():
        counter_model.objects.create(key=f"partner:{partner_id}", value=position)


class Migration(migrations.Migration):

    dependencies = [
        ("partners", "0001_initial"),
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="WebhookCounter",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("key", models.CharField(max_length=80, unique=True)),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="WebhookEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("position", models.BigIntegerField(
                    blank=True, null=True,
                    help_text="Per partner, increasing in commit order; empty for a ping (not "
                              "in the feed)")),
                ("event_type", models.CharField(max_length=60)),
                ("transfer_id", models.BigIntegerField(
                    blank=True, help_text="Internal id of the transfer the event is about",
                    null=True)),
                ("sequence", models.PositiveIntegerField(
                    blank=True, help_text="Per transfer, increasing with every change",
                    null=True)),
                ("payload", models.JSONField(
                    help_text="The envelope sent: id, type, timestamp, sequence, data")),
                ("created_at", models.DateTimeField(db_index=True)),
                ("partner", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, related_name="webhook_events",
                    to="partners.partner")),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("partner", "position"),
                                            name="webhooks_event_partner_position_unique"),
                    models.UniqueConstraint(fields=("transfer_id", "sequence"),
                                            name="webhooks_event_transfer_sequence_unique"),
                ],
            },
        ),
        # Endpoints: public id and encrypted secret for the rows that exist.
        migrations.AddField(
            model_name="webhookendpoint", name="public_id",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.AddField(
            model_name="webhookendpoint", name="secret_encrypted",
            field=gateway.common.crypto.EncryptedJSONField(null=True),
        ),
        migrations.RunPython(endpoints_forward, migrations.RunPython.noop),
        migrations.RemoveField(model_name="webhookendpoint", name="secret"),
        migrations.RenameField(model_name="webhookendpoint", old_name="secret_encrypted",
                               new_name="secret"),
        migrations.AlterField(
            model_name="webhookendpoint", name="secret",
            field=gateway.common.crypto.EncryptedJSONField(
                default=gateway.webhooks.models.webhook_secret_generate,
                help_text="Standard Webhooks signing secret (whsec_...), encrypted at rest"),
        ),
        migrations.AlterField(
            model_name="webhookendpoint", name="public_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AddField(
            model_name="webhookendpoint", name="description",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="webhookendpoint", name="event_types",
            field=models.JSONField(
                blank=True, default=list,
                help_text="Event types this endpoint receives; an empty list means every type"),
        ),
        migrations.AddField(
            model_name="webhookendpoint", name="previous_secret",
            field=gateway.common.crypto.EncryptedJSONField(
                blank=True, null=True,
                help_text="The secret before the last rotation; it also signs until "
                          "previous_secret_expires_at"),
        ),
        migrations.AddField(
            model_name="webhookendpoint", name="previous_secret_expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookendpoint", name="disabled_reason",
            field=models.CharField(
                blank=True, max_length=500,
                help_text="Why the gateway disabled the endpoint (empty when the partner did or "
                          "when it is enabled)"),
        ),
        migrations.AddField(
            model_name="webhookendpoint", name="disabled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookendpoint", name="failing_since",
            field=models.DateTimeField(
                blank=True, null=True,
                help_text="First failed attempt since the last success; the endpoint is disabled "
                          "when this is older than WEBHOOK_ENDPOINT_DISABLE_AFTER_SECONDS"),
        ),
        migrations.AlterField(
            model_name="webhookendpoint", name="is_active",
            field=models.BooleanField(
                default=True,
                help_text="Enabled: new events are queued and pending ones are sent"),
        ),
        # Deliveries: each old payload becomes an event; claims replace the held row lock.
        migrations.AddField(
            model_name="webhookdelivery", name="event",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="deliveries", to="webhooks.webhookevent"),
        ),
        migrations.AddField(
            model_name="webhookdelivery", name="max_attempts",
            field=models.PositiveIntegerField(
                default=OLD_MAX_ATTEMPTS,
                help_text="Attempts allowed; a manual redelivery allows one more"),
            preserve_default=False,
        ),
        migrations.RunPython(deliveries_forward, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="webhookdelivery", name="event",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                    related_name="deliveries", to="webhooks.webhookevent"),
        ),
        migrations.RemoveField(model_name="webhookdelivery", name="payload"),
        migrations.AddField(
            model_name="webhookdelivery", name="transfer_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookdelivery", name="sequence",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookdelivery", name="claimed_until",
            field=models.DateTimeField(
                blank=True, null=True,
                help_text="An attempt is in flight until then; after it, another worker may "
                          "take over"),
        ),
        migrations.AddField(
            model_name="webhookdelivery", name="claim_token",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookdelivery", name="last_attempt_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="webhookdelivery", name="status",
            field=models.CharField(
                choices=[("pending", "Waiting to be sent (or retried at next_attempt_at)"),
                         ("delivered", "Endpoint answered 2xx"),
                         ("failed", "Gave up: attempts exhausted, 410 Gone, or the endpoint "
                                    "was removed")],
                default="pending", max_length=10),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(fields=["endpoint", "transfer_id", "sequence"],
                               name="webhooks_delivery_order_idx"),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(fields=["endpoint", "status", "claimed_until"],
                               name="webhooks_delivery_flight_idx"),
        ),
    ]
