"""App config for idp."""

from django.apps import AppConfig


class IdpConfig(AppConfig):
    name = "idp"
    label = "idp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from audit import checkpoints
        from idp import keys
        from idp.models import Application, SigningKey
        from idp.validators import clients
        from tenants.signals import tenant_created

        def evict_client(sender, instance, **kwargs) -> None:
            clients.evict((instance.tenant_id, instance.client_id))

        def evict_key(sender, instance, **kwargs) -> None:
            keys.active_keys.evict((instance.tenant_id, instance.alg))
            keys.published_keys.evict(instance.tenant_id)

        for model, handler in ((Application, evict_client), (SigningKey, evict_key)):
            post_save.connect(handler, sender=model, weak=False, dispatch_uid=f"idp.evict.{model.__name__}")
            post_delete.connect(handler, sender=model, weak=False, dispatch_uid=f"idp.evict.del.{model.__name__}")

        # issue 15: CORS per tenant, from its clients' web origins (idp.cors)
        from corsheaders.signals import check_request_enabled

        from idp import cors

        check_request_enabled.connect(cors.allow_tenant_origin, dispatch_uid="idp.cors")
        post_save.connect(cors.forget_client_origins, sender=Application, dispatch_uid="idp.cors.evict")
        post_delete.connect(cors.forget_client_origins, sender=Application, dispatch_uid="idp.cors.evict.del")
        # issue 15: the signing keys' age, read at each scrape of /metrics (idp.metrics)
        from core.metrics import register_collector
        from idp import metrics as key_metrics

        register_collector("signing_keys", key_metrics.signing_key_age)

        def provision(sender, tenant, actor=None, **kwargs) -> None:
            keys.provision_keys(actor=actor)  # a new tenant signs from its first request on

        tenant_created.connect(provision, weak=False, dispatch_uid="idp.provision_keys")

        from accounts.signals import credentials_changed, sessions_ended
        from idp.services.tokens import revoke_session_tokens, revoke_user_tokens

        def revoke_all(sender, user, reason, **kwargs) -> None:
            revoke_user_tokens(user, reason=f"password {reason}")  # in the transaction of the change

        def revoke_sessions(sender, user, sids, reason, all_tokens=False, actor=None, **kwargs) -> None:
            # In the transaction that ended the sessions: a lock or deactivation by an admin
            # (actor) ends sessions and tokens together, or neither.
            if all_tokens:
                revoke_user_tokens(user, reason=reason, actor=actor)
                return
            for sid in sids:
                if actor is None:
                    revoke_session_tokens(user, sid)
                else:
                    revoke_session_tokens(user, sid, reason=reason, actor=actor)

        credentials_changed.connect(revoke_all, weak=False, dispatch_uid="idp.revoke_user_tokens")
        sessions_ended.connect(revoke_sessions, weak=False, dispatch_uid="idp.revoke_session_tokens")
        # The tenant's signing keys sign its audit checkpoints (audit does not import idp).
        checkpoints.use_signer(keys.CheckpointSigner())

        from django.core import checks

        from idp import denylist

        checks.register(denylist.check_shared_backend, deploy=True)
