"""The project's middleware classes that run for one kind of endpoint only (core.stacks,
decision 70), named in settings.base.MIDDLEWARE."""

from corsheaders.middleware import CorsMiddleware
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.middleware.common import CommonMiddleware
from whitenoise.middleware import WhiteNoiseMiddleware  # type: ignore[import-untyped]

from core.stacks import for_back_channel, for_pages
from tenants.csrf import TenantCsrfViewMiddleware
from tenants.locale import LanguageMiddleware
from tenants.sessions import TenantSessionMiddleware

PageStaticFilesMiddleware = for_pages(WhiteNoiseMiddleware)
BackChannelCorsMiddleware = for_back_channel(CorsMiddleware)
PageSessionMiddleware = for_pages(TenantSessionMiddleware)
PageLanguageMiddleware = for_pages(LanguageMiddleware)
PageCommonMiddleware = for_pages(CommonMiddleware)
PageCsrfViewMiddleware = for_pages(TenantCsrfViewMiddleware)
PageAuthenticationMiddleware = for_pages(AuthenticationMiddleware)
PageMessageMiddleware = for_pages(MessageMiddleware)
