from config.accounts.roles import Role, can_write, user_roles


def roles(request):
    user = getattr(request, "user", None)
    current = user_roles(user)
    return {
        "user_roles": current,
        "is_auditor": Role.AUDITOR in current,
        "can_write": can_write(user) if current else False,
        "can_approve": bool(current & {Role.APPROVER, Role.ADMIN}) and Role.AUDITOR not in current,
        "is_admin_role": Role.ADMIN in current and Role.AUDITOR not in current,
    }
