/* it_filters.c -- payload filters end to end: libshoal parses the text
 * filter, the coordinator forwards it, the worker evaluates it during the
 * HNSW traversal (or exactly, when it is selective).
 *
 * 8,000 points with typed payloads in one dedicated tenant's collection;
 * for filters from very selective (0.05%) to broad, every answer is
 * complete (min(k, matching) hits), holds only matching points, and has
 * recall@10 >= 0.95 against a brute-force filtered search computed here
 * from the data (with common/filter.c's reference semantics); exact mode
 * equals it.  A bad filter is refused by the library before anything is
 * sent (INVALID_ARGUMENT with its position), and the CLI's --filter works
 * and reports errors. */
#include <stdio.h>
#include <time.h>

#include "filter.h"
#include "it_common.h"
#include "shoal.pb-c.h"

#define N 8000
#define DIM 16
#define SEED 11
#define K 10

static const char *const cats[] = {"news", "blog", "paper"};

/* Payload of point i, as fields for libshoal and for the oracle. */
typedef struct pay {
	shoal_field f[5];
	const char *tagv[2];
	char t0[16], t1[16];
	/* the same as protobuf fields, for filter_match */
	Shoal__PayloadField pf[5], *pfp[5];
	Shoal__PayloadValue pv[5];
	Shoal__StringList sl;
	char *slv[2];
} pay;

static void
make_pay(uint64_t i, pay *p)
{
	memset(p, 0, sizeof *p);
	snprintf(p->t0, sizeof p->t0, "t%u", (unsigned)(i % 5));
	snprintf(p->t1, sizeof p->t1, "u%u", (unsigned)(i % 2000));
	p->tagv[0] = p->t0;
	p->tagv[1] = p->t1;
	p->f[0] = (shoal_field){.key = "cat", .type = SHOAL_VALUE_STRING, .s = cats[i % 3]};
	p->f[1] = (shoal_field){.key = "year", .type = SHOAL_VALUE_INT, .i = 2015 + (int64_t)(i % 10)};
	p->f[2] = (shoal_field){.key = "score", .type = SHOAL_VALUE_DOUBLE, .d = (double)(i % 100) / 100};
	p->f[3] = (shoal_field){.key = "draft", .type = SHOAL_VALUE_BOOL, .b = i % 7 == 0};
	p->f[4] = (shoal_field){.key = "tags", .type = SHOAL_VALUE_TAGS};
	p->f[4].tags.v = p->tagv;
	p->f[4].tags.n = 2;
	for (int k = 0; k < 5; k++) {
		p->pf[k] = (Shoal__PayloadField)SHOAL__PAYLOAD_FIELD__INIT;
		p->pv[k] = (Shoal__PayloadValue)SHOAL__PAYLOAD_VALUE__INIT;
		p->pf[k].key = (char *)p->f[k].key;
		p->pf[k].value = &p->pv[k];
		p->pfp[k] = &p->pf[k];
	}
	p->pv[0].kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
	p->pv[0].s = (char *)p->f[0].s;
	p->pv[1].kind_case = SHOAL__PAYLOAD_VALUE__KIND_I;
	p->pv[1].i = p->f[1].i;
	p->pv[2].kind_case = SHOAL__PAYLOAD_VALUE__KIND_D;
	p->pv[2].d = p->f[2].d;
	p->pv[3].kind_case = SHOAL__PAYLOAD_VALUE__KIND_B;
	p->pv[3].b = p->f[3].b;
	p->sl = (Shoal__StringList)SHOAL__STRING_LIST__INIT;
	p->slv[0] = p->t0;
	p->slv[1] = p->t1;
	p->sl.n_values = 2;
	p->sl.values = p->slv;
	p->pv[4].kind_case = SHOAL__PAYLOAD_VALUE__KIND_TAGS;
	p->pv[4].tags = &p->sl;
}

int
main(void)
{
	harness_cluster c;
	harness_cluster_start(&c, 1);
	shoal_client *cl = it_connect(&c);
	shoal_status st;
	float *base = malloc((size_t)N * DIM * sizeof(float));
	pay *pays = calloc(N, sizeof *pays);
	shoal_payload *pl = calloc(N, sizeof *pl);
	uint64_t *ids = malloc(N * sizeof *ids);
	unsigned char *match = malloc(N);

	OK(shoal_tenant_create(cl, "acme", NULL, NULL, &st_));
	shoal_collection_params cp = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	OK(shoal_collection_create(cl, "acme", "docs", &cp, NULL, &st_));
	vecio_generate(SEED, 0, N, DIM, base);
	for (uint64_t i = 0; i < N; i++) {
		make_pay(i, &pays[i]);
		pl[i].fields = pays[i].f;
		pl[i].n_fields = 5;
		ids[i] = i;
	}
	for (size_t lo = 0; lo < N; lo += 1000) {
		shoal_batch b = {.n = 1000, .dim = DIM, .ids = ids + lo, .vectors = base + lo * DIM,
		    .payloads = pl + lo};
		OK(shoal_upsert(cl, "acme", "docs", &b, NULL, &st_));
	}
	/* let the worker build HNSW for the 8,000-point partition (> 1,024) */
	{
		struct timespec ts = {3, 0};
		nanosleep(&ts, NULL);
	}

	static const char *const filters[] = {
	    "tags HAS \"u17\"",                                   /* 4 points: 0.05% */
	    "year = 2019 AND score < 0.2",                        /* 2% (correlated) */
	    "cat = \"paper\" AND score < 0.1",                    /* 3.3% */
	    "draft = true",                                       /* 14% */
	    "cat IN (\"news\", \"blog\") AND year >= 2020",       /* 33% */
	    "lang = \"en\" OR NOT draft = true",                  /* 86% */
	    "cat = \"news\" AND (year >= 2020 OR tags HAS \"t2\") AND NOT draft = true",
	    "missing_field = 1",                                  /* nothing */
	};
	float q[DIM];
	for (size_t fi = 0; fi < sizeof filters / sizeof *filters; fi++) {
		Shoal__Filter *f;
		CHECK(filter_parse(filters[fi], &f, &st) == SHOAL_OK, "%s", st.msg);
		size_t nmatch = 0;
		for (size_t i = 0; i < N; i++)
			nmatch += match[i] = filter_match(f, pays[i].pfp, 5);
		filter_free(f);
		size_t found = 0, total = 0;
		for (int qi = 0; qi < 30; qi++) {
			uint64_t want[K];
			vecio_generate(SEED + 1, (uint64_t)qi, 1, DIM, q);
			it_topk(SHOAL_METRIC_L2, base, match, N, DIM, q, K, want);
			for (int exact = 0; exact < 2; exact++) {
				shoal_search_params sp = {.k = K, .exact = exact, .filter = filters[fi]};
				shoal_search_result *r;
				OK(shoal_search(cl, "acme", "docs", q, DIM, &sp, &r, &st_));
				size_t m = nmatch < K ? nmatch : K;
				CHECK(r->complete && r->n_hits == m, "%s: %zu hits (complete %d), %zu match",
				    filters[fi], r->n_hits, r->complete, nmatch);
				for (size_t h = 0; h < r->n_hits; h++) {
					uint64_t id = r->hits[h].id;
					CHECK(id < N && match[id], "%s: point %llu does not match", filters[fi],
					    (unsigned long long)id);
					bool in = false;
					for (size_t w = 0; w < m; w++)
						in |= want[w] == id;
					if (exact)
						CHECK(in, "%s: exact search returned %llu, not in the top %d",
						    filters[fi], (unsigned long long)id, K);
					else
						found += in;
				}
				if (!exact)
					total += m;
				shoal_search_result_free(r);
			}
		}
		double recall = total ? (double)found / (double)total : 1.0;
		printf("filter %-70s %5zu match, recall@10 %.3f\n", filters[fi], nmatch, recall);
		CHECK(recall >= 0.95, "%s: recall %.3f", filters[fi], recall);
	}

	/* bad filters: refused before anything is sent */
	shoal_search_params bad = {.k = K, .filter = "year >= 2020 AND (cat = \"x\""};
	shoal_search_result *r = NULL;
	shoal_code rc = shoal_search(cl, "acme", "docs", q, DIM, &bad, &r, &st);
	CHECK(rc == SHOAL_INVALID_ARGUMENT && strstr(st.msg, "at position 28") && r == NULL,
	    "bad filter: %s: %s", shoal_code_name(rc), st.msg);
	bad.filter = "score > NaN";
	rc = shoal_search(cl, "acme", "docs", q, DIM, &bad, &r, &st);
	CHECK(rc == SHOAL_INVALID_ARGUMENT, "NaN filter: %s: %s", shoal_code_name(rc), st.msg);

	/* the CLI */
	char out[16384];
	int crc = harness_run_cli(&c, out, sizeof out, "search", "acme", "docs", "--gen-seed", "11",
	    "--gen-index", "5", "--k", "5", "--with-payload", "--filter",
	    "cat = \"blog\" AND year >= 2022", NULL);
	CHECK(crc == 0 && strstr(out, "\"blog\"") && !strstr(out, "\"news\"") &&
	        !strstr(out, "\"paper\"") && strstr(out, "complete: yes (5 hits)"),
	    "shoal search --filter (rc %d):\n%s", crc, out);
	crc = harness_run_cli(&c, out, sizeof out, "search", "acme", "docs", "--gen-seed", "11",
	    "--gen-index", "5", "--filter", "cat == ", NULL);
	CHECK(crc == 1 && strstr(out, "INVALID_ARGUMENT") && strstr(out, "filter: expected a value"),
	    "shoal search with a bad --filter (rc %d):\n%s", crc, out);

	free(base);
	free(pays);
	free(pl);
	free(ids);
	free(match);
	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_filters: ok\n");
	return 0;
}
