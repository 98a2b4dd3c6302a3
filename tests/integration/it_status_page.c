/* it_status_page.c -- the coordinator's status page rendered by a real
 * browser: headless Chromium loads http://COORD/, its JavaScript fetches
 * /status.json and draws one row per worker; the test reads the DOM
 * Chromium dumps and checks every worker appears with its state and its
 * tenant, then kills a worker and checks the page shows it DOWN.
 *
 * Skipped (exit 77, ctest SKIP_RETURN_CODE) when no chromium is installed
 * (deploy/install-deps.sh --test installs Debian's). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "it_common.h"

static const char *
find_chromium(void)
{
	static const char *const paths[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
	    "/usr/bin/google-chrome", "/snap/bin/chromium"};
	const char *env = getenv("SHOAL_CHROMIUM");
	if (env != NULL && env[0] != '\0')
		return access(env, X_OK) == 0 ? env : NULL;
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* Runs chromium --dump-dom on url; returns the DOM (malloc'ed). */
static char *
dump_dom(harness_cluster *c, const char *chromium, const char *url)
{
	char profile[300], out[300];
	snprintf(profile, sizeof profile, "%s/chromium-profile-XXXXXX", c->dir);
	CHECK(mkdtemp(profile) != NULL, "mkdtemp");
	snprintf(out, sizeof out, "%s/dom.html", c->dir);
	char udd[400];
	snprintf(udd, sizeof udd, "--user-data-dir=%s", profile);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int nul = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(nul, 2);
		execl(chromium, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		    "--disable-quic", "--no-first-run", "--disable-background-networking",
		    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", udd,
		    /* let the page's fetch() finish before the DOM is dumped */
		    "--virtual-time-budget=10000", "--dump-dom", url, (char *)NULL);
		_exit(127);
	}
	CHECK(pid > 0, "fork");
	int status = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > 90) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			CHECK(false, "chromium did not finish within 90 s");
		}
		usleep(50000);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "chromium failed (status %d)",
	    status);
	FILE *f = fopen(out, "r");
	CHECK(f != NULL, "no DOM dump");
	size_t cap = 1 << 20;
	char *dom = malloc(cap);
	size_t len = fread(dom, 1, cap - 1, f);
	dom[len] = '\0';
	fclose(f);
	return dom;
}

int
main(void)
{
	const char *chromium = find_chromium();
	if (chromium == NULL) {
		printf("SKIP: no chromium found (install Debian's 'chromium' package, e.g. "
		       "deploy/install-deps.sh --test, or set SHOAL_CHROMIUM)\n");
		return 77;
	}
	harness_cluster c;
	harness_cluster_start(&c, 2);
	shoal_client *cl = it_connect(&c);
	shoal_tenant_info t;
	OK(shoal_tenant_create(cl, "acme", NULL, &t, &st_));

	shoal_cluster_info *ci;
	OK(shoal_cluster_status(cl, &ci, &st_));
	CHECK(ci->n_workers == 2, "%zu workers", ci->n_workers);
	char names[2][64];
	for (int i = 0; i < 2; i++)
		snprintf(names[i], sizeof names[i], "%s", ci->workers[i].name);
	shoal_cluster_info_free(ci);

	char url[128], want[200];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", c.coord_http_port);
	char *dom = dump_dom(&c, chromium, url);
	CHECK(strstr(dom, "data-loaded=\"yes\"") != NULL,
	    "the page's script did not render /status.json: %.2000s", dom);
	for (int i = 0; i < 2; i++) {
		snprintf(want, sizeof want, "data-worker=\"%s\" data-state=\"up\"", names[i]);
		CHECK(strstr(dom, want) != NULL, "worker %s not shown up: %.3000s", names[i], dom);
	}
	CHECK(strstr(dom, "2 of 2 workers up") != NULL, "summary missing");
	snprintf(want, sizeof want, "<tr data-tenant=\"acme\"><td>acme</td><td>%s</td>", t.worker);
	CHECK(strstr(dom, want) != NULL, "tenant acme on %s not shown", t.worker);
	free(dom);

	/* one worker dies: the page shows it DOWN once the coordinator knows */
	/* the victim: the harness worker whose identity is not acme's worker */
	int victim = -1;
	char vname[64] = "";
	for (int i = 0; i < 2 && victim < 0; i++) {
		char p[400], line[200] = "";
		snprintf(p, sizeof p, "%s/worker%d/identity", c.dir, i);
		FILE *f = fopen(p, "r");
		CHECK(f != NULL && fgets(line, sizeof line, f) != NULL, "cannot read %s", p);
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, t.worker) != 0) {
			victim = i;
			snprintf(vname, sizeof vname, "%s", line);
		}
	}
	CHECK(victim >= 0, "no worker without the tenant");
	harness_signal_worker(&c, victim, SIGKILL);
	bool down = false;
	for (int i = 0; i < 200 && !down; i++) {
		OK(shoal_cluster_status(cl, &ci, &st_));
		for (size_t j = 0; j < ci->n_workers; j++)
			if (strcmp(ci->workers[j].name, vname) == 0)
				down = !ci->workers[j].up;
		shoal_cluster_info_free(ci);
		if (!down)
			usleep(100000);
	}
	CHECK(down, "worker %s never reported down", vname);
	dom = dump_dom(&c, chromium, url);
	snprintf(want, sizeof want, "data-worker=\"%s\" data-state=\"down\"", vname);
	CHECK(strstr(dom, want) != NULL, "worker %s not shown DOWN: %.3000s", vname, dom);
	CHECK(strstr(dom, "1 of 2 workers up") != NULL, "summary does not say 1 of 2 up");
	free(dom);

	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_status_page: OK (%s)\n", chromium);
	return 0;
}
