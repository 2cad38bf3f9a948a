from apps.core.models import SystemSwitch


def switch_enabled(*, name: str) -> bool:
    return SystemSwitch.objects.filter(name=name, enabled=True).exists()


def system_notices() -> list[str]:
    """Messages every signed-in user should see, e.g. that an operator paused all campaigns."""
    return [
        switch.message or switch.get_name_display()
        for switch in SystemSwitch.objects.filter(enabled=True).order_by("name")
    ]
