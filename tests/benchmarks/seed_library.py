"""Organise a seeded gallery (seed_grid.py) as a real library is: 1,000 albums, 5,000 tags, 10 %
favourites, ratings, and, in one trash, photos past their time. Bulk inserts through the app's own
tables, any backend.

The albums are 100 at the top, each with 9 sub-albums: the first top album holds 70 % of the photos
(its page 1000 exists), the others 20 to 300 photos each.

The tags are one large tag ("holiday", 70 % of the photos, so its page 1000 exists) and 4,999 small ones
(5 to 60 photos each); the ratings give 70 % of the photos one star or more and 25 % four or more;
every tenth photo is a favourite.

  GALLERY_DATA_DIR=... GALLERY_DATABASE_URL=... python tests/benchmarks/seed_library.py --user NAME [--trash N]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

TAGS = 5000
ALBUMS_AT_THE_TOP, SUB_ALBUMS = 100, 9
LARGE_SHARE = 0.7  # of the photos in the large tag
RATINGS = [(0, 30), (1, 10), (2, 15), (3, 20), (4, 15), (5, 10)]  # stars, % of the photos
CHUNK = 5000


def organise(username: str, trash: int = 0) -> dict:
    from sqlalchemy import insert, select, update

    from app import create_app
    from app.extensions import db
    from app.models import Album, AlbumPhoto, Photo, PhotoTag, Tag, User, tag_key_of, utcnow
    from app.services.photos import recount_photos

    app = create_app()
    rng = random.Random(20261205)
    started = time.perf_counter()
    with app.app_context():
        owner_id = db.session.scalar(select(User.id).where(User.username == username))
        ids = list(db.session.scalars(select(Photo.id).where(Photo.owner_id == owner_id).order_by(Photo.id)))
        if not ids:
            raise SystemExit(f"{username} has no photos: run seed_grid.py first")
        shuffled = ids[:]
        rng.shuffle(shuffled)

        # marks: every tenth a favourite, stars by RATINGS, set by id ranges of the shuffled order
        photos = Photo.__table__
        favourites = shuffled[::10]
        for start in range(0, len(favourites), CHUNK):
            db.session.execute(update(photos).where(photos.c.id.in_(favourites[start:start + CHUNK]))
                               .values(favourite=True))
        at = 0
        for stars, share in RATINGS:
            count = len(ids) * share // 100
            chosen = shuffled[at:at + count]
            at += count
            for start in range(0, len(chosen), CHUNK):
                if stars:
                    db.session.execute(update(photos).where(photos.c.id.in_(chosen[start:start + CHUNK]))
                                       .values(rating=stars))

        # tags
        names = ["holiday"] + [f"tag {n:04d}" for n in range(1, TAGS)]
        db.session.execute(insert(Tag.__table__), [{"owner_id": owner_id, "name": name, "name_key": tag_key_of(name),
                                                     "created_at": utcnow()} for name in names])
        tag_ids = list(db.session.scalars(select(Tag.id).where(Tag.owner_id == owner_id).order_by(Tag.id)))
        sorted_at = dict(db.session.execute(select(Photo.id, Photo.sorted_at).where(Photo.owner_id == owner_id)).all())
        links = [{"photo_id": photo_id, "tag_id": tag_ids[0], "sorted_at": sorted_at[photo_id]}
                 for photo_id in rng.sample(ids, int(len(ids) * LARGE_SHARE))]
        for tag_id in tag_ids[1:]:
            links += [{"photo_id": photo_id, "tag_id": tag_id, "sorted_at": sorted_at[photo_id]}
                      for photo_id in rng.sample(ids, min(len(ids), rng.randint(5, 60)))]
        for start in range(0, len(links), CHUNK):
            db.session.execute(insert(PhotoTag.__table__), links[start:start + CHUNK])

        # albums: parents first, so each child's path can name its parent's id
        album_ids = []
        for top in range(ALBUMS_AT_THE_TOP):
            parent = db.session.execute(insert(Album.__table__).returning(Album.id), [
                {"owner_id": owner_id, "name": f"Album {top:03d}", "path": "", "created_at": utcnow()}]).scalar_one()
            db.session.execute(update(Album.__table__).where(Album.id == parent).values(path=f"/{parent}/"))
            children = db.session.execute(insert(Album.__table__).returning(Album.id), [
                {"owner_id": owner_id, "parent_id": parent, "name": f"Album {top:03d}.{n}", "path": "",
                 "created_at": utcnow()} for n in range(SUB_ALBUMS)]).scalars().all()
            for child in children:
                db.session.execute(update(Album.__table__).where(Album.id == child).values(path=f"/{parent}/{child}/"))
            album_ids += [parent, *children]
        members = [{"album_id": album_ids[0], "photo_id": photo_id, "sorted_at": sorted_at[photo_id]}
                   for photo_id in rng.sample(ids, int(len(ids) * LARGE_SHARE))]
        for album_id in album_ids[1:]:
            members += [{"album_id": album_id, "photo_id": photo_id, "sorted_at": sorted_at[photo_id]}
                        for photo_id in rng.sample(ids, min(len(ids), rng.randint(20, 300)))]
        for start in range(0, len(members), CHUNK):
            db.session.execute(insert(AlbumPhoto.__table__), members[start:start + CHUNK])

        # the trash: photos trashed long enough ago that purge-trash deletes them, drawn apart from the
        # marks (which took the shuffle's ranges), so every mark keeps its share of the library
        trashed = rng.sample(ids, trash) if trash else []
        long_ago = utcnow() - timedelta(days=app.config["TRASH_DAYS"] + 1)
        for start in range(0, len(trashed), CHUNK):
            db.session.execute(update(photos).where(photos.c.id.in_(trashed[start:start + CHUNK]))
                               .values(trashed_at=long_ago))
        db.session.commit()
        recount_photos()  # the Core updates passed the ORM's counting
        db.session.remove()
        db.engine.dispose()
    return {"photos": len(ids), "favourites": len(favourites), "tags": len(names), "tag_links": len(links),
            "albums": len(album_ids), "album_links": len(members), "large_album_id": album_ids[0],
            "small_album_id": album_ids[-1],
            "trashed": len(trashed), "large_tag_id": tag_ids[0], "small_tag_id": tag_ids[-1],
            "seconds": time.perf_counter() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", required=True)
    parser.add_argument("--trash", type=int, default=0, help="photos to put in the trash, past their time")
    args = parser.parse_args()
    result = organise(args.user, args.trash)
    print(" ".join(f"{name}={value}" for name, value in result.items() if name != "seconds"),
          f"in {result['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
