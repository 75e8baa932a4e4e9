"""Which reported places to believe: a fixed-point loop whose verdicts revise earlier output.

Users post sightings at a place; other users repost them. A repost is *suspicious* when the
reposter lives far from the place, or when the reposter is unreliable. An author is
unreliable when most reposts of their posts are suspicious, so the verdicts depend on each
other: ``pw.iterate`` runs them to a fixed point. A place stays published while at least one
reliable author backs it.

The reposts arrive over time. When a far-away account reposts ben's sighting, ben becomes
unreliable and the old mill is withdrawn; when that repost is deleted, the old mill comes
back. Each revision is exact: the loop is recomputed as if from scratch on the current data,
but only the changes travel through it.

Run: ``python examples/reliable_locations.py``
"""

import reflow as pw

FAR_KM = 50

users = pw.debug.table_from_markdown("""
name | x  | y
ana  | 0  | 0
ben  | 2  | 1
carl | 1  | 3
dora | 90 | 80
eve  | 95 | 85
""").with_id_from(pw.this.name)

posts = pw.debug.table_from_markdown("""
post | author | place   | x | y
p1   | ana    | bridge  | 1 | 1
p2   | ben    | oldmill | 2 | 2
p3   | dora   | harbour | 0 | 2
""")

reposts = pw.debug.table_from_markdown("""
  | reposter | post | __time__ | __diff__
1 | ben      | p1   | 2        | 1
2 | carl     | p1   | 2        | 1
3 | ana      | p2   | 2        | 1
4 | eve      | p3   | 2        | 1
5 | dora     | p2   | 4        | 1
6 | eve      | p2   | 6        | 1
6 | eve      | p2   | 8        | -1
""")

# Every repost with its post's author and whether the reposter lives far from the place.
located = reposts.join(users, reposts.reposter == users.name).select(
    reposts.reposter, reposts.post, hx=users.x, hy=users.y
)
evidence = located.join(posts, located.post == posts.post).select(
    located.reposter,
    posts.author,
    far=(located.hx - posts.x) ** 2 + (located.hy - posts.y) ** 2 > FAR_KM**2,
)


def judge(verdicts: pw.Table, evidence: pw.Table) -> dict[str, pw.Table]:
    judged = evidence.join(verdicts, evidence.reposter == verdicts.name).select(
        evidence.author, suspicious=evidence.far | ~verdicts.reliable
    )
    counts = judged.groupby(judged.author).reduce(
        suspicious=pw.reducers.sum(pw.if_else(judged.suspicious, 1, 0)),
        total=pw.reducers.count(),
    )
    mine = counts.ix(verdicts.id, allow_misses=True)
    reliable = pw.coalesce(mine.suspicious * 2 <= mine.total, True)
    return dict(verdicts=verdicts.select(verdicts.name, reliable=reliable))


verdicts = pw.iterate(
    judge, verdicts=users.select(users.name, reliable=True), evidence=evidence
).verdicts

backed = posts.join(verdicts, posts.author == verdicts.name).filter(pw.this.reliable)
places = backed.groupby(pw.this.place).reduce(pw.this.place, backers=pw.reducers.count())

if __name__ == "__main__":
    print("verdicts on the authors, as they are revised:")
    pw.debug.compute_and_print_update_stream(
        verdicts.filter(~pw.this.reliable), include_id=False
    )
    print("\npublished places:")
    pw.debug.compute_and_print_update_stream(places, include_id=False)
