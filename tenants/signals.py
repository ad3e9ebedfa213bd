"""Signals tenants sends so that higher apps can act without tenants importing them.

Each is sent inside the tenant's context and the transaction of the change; a receiver's
error rolls the change back.
"""

from django.dispatch import Signal

# A tenant was created. Arguments: tenant, actor (core.actors.Actor or None).
# audit starts the tenant's chain; idp provisions its signing keys.
tenant_created = Signal()

# Platform code entered a tenant (tenants.platform). Arguments: tenant, actor, reason.
# audit records it in that tenant's trail.
platform_accessed = Signal()

# The tenant's security policy changed (tenants.services.update_policy). Arguments: tenant,
# actor (or None), changes ({field: {"from": old, "to": new}}). audit records it.
policy_changed = Signal()

# A tenant's own settings changed (tenants.services: deactivate_tenant, reactivate_tenant).
# Sent inside the tenant's context (the platform door) and the transaction of the change.
# Arguments: tenant, actor (or None), changes ({field: {"from": old, "to": new}}), reason.
# audit records it in that tenant's trail (tenant.updated).
tenant_updated = Signal()
