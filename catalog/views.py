from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render

from . import services
from .forms import AuthorProfileForm
from .models import Author


def book_list(request):
    return render(request, "catalog/book_list.html", {"query": request.GET.get("q", "")})


def author_detail(request, slug):
    author = get_object_or_404(Author, slug=slug)
    return render(request, "catalog/author_detail.html", {"author": author})


@login_required
def author_profile(request):
    """Create or edit the logged-in user's author profile (becoming an author)."""
    author = getattr(request.user, "author_profile", None)
    form = AuthorProfileForm(request.POST or None, request.FILES or None, instance=author)
    if request.method == "POST" and form.is_valid():
        photo = form.cleaned_data.get("photo")
        services.save_author_profile(
            user=request.user,
            display_name=form.cleaned_data["display_name"],
            bio=form.cleaned_data["bio"],
            photo=photo if "photo" in form.changed_data else None,
        )
        messages.success(request, "Your author profile is saved.")
        return redirect("account")
    return render(request, "catalog/author_profile_form.html", {"form": form, "author": author})
