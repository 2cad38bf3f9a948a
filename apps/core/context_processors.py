from apps.core.selectors import system_notices


def site(request) -> dict:
    user = getattr(request, "user", None)
    theme = request.COOKIES.get("theme", "")
    if user is not None and user.is_authenticated:
        theme = user.theme
    return {
        "theme": theme if theme in ("light", "dark") else "",
        "system_notices": system_notices(),
    }
