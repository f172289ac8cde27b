from django.shortcuts import render

from config.accounts.roles import READ_ROLES, role_required


@role_required(*READ_ROLES)
def index(request):
    return render(request, "cases/index.html")
