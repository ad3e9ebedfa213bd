"""Platform-wide keys: the data keys of keyed digests, sealed under the KEK (core.crypto)."""

from __future__ import annotations

from django.db import IntegrityError, models, transaction


class DataKey(models.Model):
    """One purpose's data key (an HMAC key), AES-GCM sealed under the KEK.

    Not tenant data: digests of every tenant are keyed by it (with the tenant in what is
    digested). The application role may read and add these rows and re-seal them; it may
    not delete one (tenants.roles): a lost data key is every digest it made, unverifiable.
    """

    purpose = models.CharField(max_length=100, unique=True)
    sealed = models.BinaryField()
    created = models.DateTimeField(auto_now_add=True)
    resealed = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.purpose

    @classmethod
    def create_for(cls, info: bytes, key: bytes) -> DataKey:
        """Store ``key`` sealed for purpose ``info``, or the row another process stored first."""
        from core.crypto import DATA_KEY_PURPOSE, seal

        try:
            with transaction.atomic():
                return cls.objects.create(purpose=info.decode(),
                                          sealed=seal(key, purpose=DATA_KEY_PURPOSE, associated_data=info))
        except IntegrityError:
            return cls.objects.get(purpose=info.decode())
