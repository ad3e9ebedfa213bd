"""The admin API's tenant layer: who may call it (permissions) and the scoped view base."""
