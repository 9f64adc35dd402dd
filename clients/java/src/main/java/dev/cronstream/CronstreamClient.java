package dev.cronstream;

import dev.cronstream.v1.AdminServiceGrpc;
import dev.cronstream.v1.BackfillJobRequest;
import dev.cronstream.v1.CreateJobRequest;
import dev.cronstream.v1.GetExecutionRequest;
import dev.cronstream.v1.GetJobRequest;
import dev.cronstream.v1.ListAlertsRequest;
import dev.cronstream.v1.ListExecutionLogsRequest;
import dev.cronstream.v1.ListExecutionsRequest;
import dev.cronstream.v1.ListJobsRequest;
import dev.cronstream.v1.ListRateLimitsRequest;
import dev.cronstream.v1.PauseJobRequest;
import dev.cronstream.v1.PauseJobsRequest;
import dev.cronstream.v1.PreviewScheduleRequest;
import dev.cronstream.v1.ResumeJobRequest;
import dev.cronstream.v1.ResumeJobsRequest;
import dev.cronstream.v1.RunJobRequest;
import dev.cronstream.v1.SetRateLimitRequest;
import dev.cronstream.v1.SchedulerServiceGrpc;
import dev.cronstream.v1.WorkerServiceGrpc;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingClientCall;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * A connection to a Cronstream server. Every call made through it, by the convenience methods
 * or the generated stubs, carries {@code authorization: Bearer <api key>}, over TLS or
 * plaintext.
 *
 * <pre>{@code
 * try (CronstreamClient client = CronstreamClient.connect("127.0.0.1:50051", apiKey, false)) {
 *   Job job = client.createJob(Jobs.cron("0 3 * * *", ZoneId.of("Europe/Berlin"))
 *       .name("nightly").handler("send_report"));
 *   System.out.println(job.status() + " " + job.nextRun()); // ACTIVE 2026-12-02T02:00:00Z
 * }
 * }</pre>
 *
 * <p>The convenience methods take and return Java types ({@link Job}, {@link Execution}, {@link
 * LogLine}, each with the generated message as {@code proto()}) and throw {@link CronstreamException}s; the stubs ({@link
 * #scheduler()}, {@link #workers()}, {@link #admin()} and their async forms) throw grpc-java's
 * {@code StatusRuntimeException}, which {@link CronstreamException#from(Throwable)} translates.
 * The client is thread-safe; make one per process and close it at the end.
 */
public final class CronstreamClient implements AutoCloseable {
  /** The metadata key every call carries. */
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  /** Keepalive pings: below common load-balancer idle timeouts, as the server permits. */
  private static final long KEEPALIVE_SECONDS = 20;

  private final ManagedChannel owned; // null when wrapping a caller's channel
  private final Channel channel;

  private CronstreamClient(ManagedChannel owned, Channel raw, String apiKey) {
    this.owned = owned;
    this.channel = apiKey == null || apiKey.isEmpty()
        ? raw
        : ClientInterceptors.intercept(raw, new BearerInterceptor("Bearer " + apiKey));
  }

  /**
   * Connects to {@code address} ({@code host:port}; an {@code http://} or {@code https://}
   * prefix is dropped) with TLS, or plaintext when {@code tls} is false ({@code make run} serves
   * plaintext). The connection is made lazily, on the first call.
   */
  public static CronstreamClient connect(String address, String apiKey, boolean tls) {
    ManagedChannelBuilder<?> b = ManagedChannelBuilder.forTarget(target(address))
        .keepAliveTime(KEEPALIVE_SECONDS, TimeUnit.SECONDS)
        .keepAliveTimeout(KEEPALIVE_SECONDS, TimeUnit.SECONDS)
        .keepAliveWithoutCalls(true)
        .userAgent("cronstream-java/" + version());
    if (tls) {
      b.useTransportSecurity();
    } else {
      b.usePlaintext();
    }
    ManagedChannel ch = b.build();
    return new CronstreamClient(ch, ch, apiKey);
  }

  /** Connects with TLS; see {@link #connect(String, String, boolean)}. */
  public static CronstreamClient connect(String address, String apiKey) {
    return connect(address, apiKey, true);
  }

  /**
   * Wraps a channel you made yourself (custom TLS, interceptors, an in-process channel). {@link
   * #close()} leaves it open.
   */
  public static CronstreamClient wrap(Channel channel, String apiKey) {
    return new CronstreamClient(null, channel, apiKey);
  }

  static String target(String address) {
    String a = address.strip();
    for (String scheme : List.of("http://", "https://")) {
      if (a.regionMatches(true, 0, scheme, 0, scheme.length())) {
        a = a.substring(scheme.length());
      }
    }
    while (a.endsWith("/")) {
      a = a.substring(0, a.length() - 1);
    }
    return a;
  }

  static String version() {
    String v = CronstreamClient.class.getPackage().getImplementationVersion();
    return v == null ? "0.1.0" : v;
  }

  /** The authenticated channel, for stubs of your own. */
  public Channel channel() {
    return channel;
  }

  public SchedulerServiceGrpc.SchedulerServiceBlockingStub scheduler() {
    return SchedulerServiceGrpc.newBlockingStub(channel);
  }

  public SchedulerServiceGrpc.SchedulerServiceStub schedulerAsync() {
    return SchedulerServiceGrpc.newStub(channel);
  }

  public SchedulerServiceGrpc.SchedulerServiceFutureStub schedulerFuture() {
    return SchedulerServiceGrpc.newFutureStub(channel);
  }

  /**
   * The blocking WorkerService stub (grpc-java's experimental blocking bidi API). {@link Worker}
   * runs the worker protocol for you; this is for writing your own.
   */
  public WorkerServiceGrpc.WorkerServiceBlockingV2Stub workers() {
    return WorkerServiceGrpc.newBlockingV2Stub(channel);
  }

  public WorkerServiceGrpc.WorkerServiceStub workersAsync() {
    return WorkerServiceGrpc.newStub(channel);
  }

  public AdminServiceGrpc.AdminServiceBlockingStub admin() {
    return AdminServiceGrpc.newBlockingStub(channel);
  }

  public AdminServiceGrpc.AdminServiceStub adminAsync() {
    return AdminServiceGrpc.newStub(channel);
  }

  // --- convenience methods -------------------------------------------------

  /** Creates a job; throws {@link InvalidArgumentException} naming the bad fields. */
  public Job createJob(JobSpec job) {
    return createJob(job.proto());
  }

  /** Creates a job from the generated message. */
  public Job createJob(dev.cronstream.v1.Job job) {
    return createJob(CreateJobRequest.newBuilder().setJob(job).build());
  }

  /** Creates a job; a repeated {@code request_id} returns the first job instead of a second. */
  public Job createJob(CreateJobRequest request) {
    return call(() -> Convert.job(scheduler().createJob(request).getJob()));
  }

  public Job getJob(String id) {
    return call(() -> Convert.job(scheduler().getJob(GetJobRequest.newBuilder().setId(id).build()).getJob()));
  }

  /** Runs a job now, outside its schedule. */
  public Execution runJob(String id) {
    return call(() -> Convert.execution(scheduler().runJob(RunJobRequest.newBuilder().setId(id).build()).getExecution()));
  }

  public Execution getExecution(String id) {
    return call(() -> Convert.execution(
        scheduler().getExecution(GetExecutionRequest.newBuilder().setId(id).build()).getExecution()));
  }

  /** Stops a job firing until {@link #resumeJob}. */
  public Job pauseJob(String id) {
    return pauseJob(id, null);
  }

  /**
   * Stops a job firing until {@code until}, when it resumes by itself ({@link Job#pausedUntil()});
   * {@code null}: until {@link #resumeJob}. Pausing a paused job sets its until anew.
   */
  public Job pauseJob(String id, Instant until) {
    PauseJobRequest.Builder b = PauseJobRequest.newBuilder().setId(id);
    if (until != null) {
      b.setUntil(Convert.timestamp(until));
    }
    return call(() -> Convert.job(scheduler().pauseJob(b.build()).getJob()));
  }

  /** Fires a paused job again from its first slot after now. */
  public Job resumeJob(String id) {
    return call(() -> Convert.job(scheduler().resumeJob(ResumeJobRequest.newBuilder().setId(id).build()).getJob()));
  }

  /**
   * Pauses at most {@code limit} (0: the server's default, 1,000) of the platform's active jobs
   * that match {@code selector}, each as {@link #pauseJob(String, Instant)} would; call again while
   * {@code remaining} is not zero, or use {@link #pauseMatchingJobs}.
   */
  public BulkChange pauseJobs(JobSelector selector, Instant until, int limit) {
    PauseJobsRequest.Builder b = PauseJobsRequest.newBuilder().setSelector(selector.proto()).setLimit(limit);
    if (until != null) {
      b.setUntil(Convert.timestamp(until));
    }
    return call(() -> {
      var r = scheduler().pauseJobs(b.build());
      return new BulkChange(r.getChanged(), r.getRemaining());
    });
  }

  /** Resumes at most {@code limit} (0: 1,000) of the platform's paused jobs that match {@code selector}. */
  public BulkChange resumeJobs(JobSelector selector, int limit) {
    var request = ResumeJobsRequest.newBuilder().setSelector(selector.proto()).setLimit(limit).build();
    return call(() -> {
      var r = scheduler().resumeJobs(request);
      return new BulkChange(r.getChanged(), r.getRemaining());
    });
  }

  /**
   * {@link #pauseJobs} again and again until no matching active job remains: the jobs paused in
   * all, and what remains (0, unless a call paused none: then it stops rather than spin).
   */
  public BulkChange pauseMatchingJobs(JobSelector selector, Instant until, int limit) {
    return untilNoneRemain(() -> pauseJobs(selector, until, limit));
  }

  /** {@link #resumeJobs} until no matching paused job remains; as {@link #pauseMatchingJobs}. */
  public BulkChange resumeMatchingJobs(JobSelector selector, int limit) {
    return untilNoneRemain(() -> resumeJobs(selector, limit));
  }

  static BulkChange untilNoneRemain(Supplier<BulkChange> call) {
    int changed = 0;
    while (true) {
      BulkChange step = call.get();
      changed += step.changed();
      if (step.remaining() == 0 || step.changed() == 0) {
        return new BulkChange(changed, step.remaining());
      }
    }
  }

  /** A backfill with the server's choice of overlap policy; see {@link #backfillJob(String, Instant, Instant, OverlapPolicy)}. */
  public Backfill backfillJob(String id, Instant start, Instant end) {
    return backfillJob(id, start, end, OverlapPolicy.UNKNOWN);
  }

  /**
   * Creates an execution ({@link ExecutionTrigger#BACKFILL}) for every instant of the job's
   * schedule in [{@code start}, {@code end}), exactly as the ticker fires them; an instant that
   * already has one gets none, so the same backfill twice creates nothing. {@code overlap}: {@link
   * OverlapPolicy#ALLOW} (several at once) or {@link OverlapPolicy#BUFFER_ONE} (one at a time,
   * oldest first); {@link OverlapPolicy#UNKNOWN}: ALLOW when the job's own policy is, else
   * BUFFER_ONE.
   */
  public Backfill backfillJob(String id, Instant start, Instant end, OverlapPolicy overlap) {
    return call(() -> {
      var r = scheduler().backfillJob(backfillRequest(id, start, end, overlap));
      return new Backfill(r.getInstants(), r.getCreated(), r.getExisting());
    });
  }

  static BackfillJobRequest backfillRequest(String id, Instant start, Instant end, OverlapPolicy overlap) {
    return BackfillJobRequest.newBuilder()
        .setId(id)
        .setStartTime(Convert.timestamp(start))
        .setEndTime(Convert.timestamp(end))
        .setOverlapPolicy(overlap.proto())
        .build();
  }

  /**
   * The instants {@code trigger} (a spec from {@link Jobs}: only its trigger is read) fires after
   * {@code after} (null: now) and before {@code before} (null: no end), at most {@code count}
   * (0: 10, or 1,000 with {@code before}), exactly as the engine fires them, with their clock
   * marks and a summary.
   */
  public SchedulePreview previewSchedule(JobSpec trigger, Instant after, Instant before, int count) {
    return previewSchedule(previewRequest(after, before, count).setJob(trigger.proto()).build());
  }

  /** The preview of the existing job {@code jobId}, whose history then predicts overlaps. */
  public SchedulePreview previewSchedule(String jobId, Instant after, Instant before, int count) {
    return previewSchedule(previewRequest(after, before, count).setJobId(jobId).build());
  }

  /** The preview {@code request} asks for. */
  public SchedulePreview previewSchedule(PreviewScheduleRequest request) {
    return call(() -> ScheduleConvert.preview(scheduler().previewSchedule(request)));
  }

  static PreviewScheduleRequest.Builder previewRequest(Instant after, Instant before, int count) {
    PreviewScheduleRequest.Builder b = PreviewScheduleRequest.newBuilder().setCount(count);
    if (after != null) {
      b.setStartTime(Convert.timestamp(after));
    }
    if (before != null) {
      b.setEndTime(Convert.timestamp(before));
    }
    return b;
  }

  /** {@link #setRateLimit(RateLimitScope, int, Duration, int)} with a burst of {@code limit}. */
  public RateLimit setRateLimit(RateLimitScope scope, int limit, Duration per) {
    return setRateLimit(scope, limit, per, 0);
  }

  /**
   * Creates or replaces the platform's rate limit of {@code scope}: at most {@code limit}
   * executions start per {@code per}, {@code burst} at once after a quiet spell (0: {@code
   * limit}). Executions already waiting follow it at once.
   */
  public RateLimit setRateLimit(RateLimitScope scope, int limit, Duration per, int burst) {
    var request = SetRateLimitRequest.newBuilder()
        .setRateLimit(ScheduleConvert.rateLimitMessage(scope, limit, per, burst))
        .build();
    return call(() -> ScheduleConvert.rateLimit(scheduler().setRateLimit(request).getRateLimit()));
  }

  /** Every rate limit of the platform, by scope then key. */
  public List<RateLimit> listRateLimits() {
    return call(() -> scheduler().listRateLimits(ListRateLimitsRequest.getDefaultInstance())
        .getRateLimitsList().stream().map(ScheduleConvert::rateLimit).toList());
  }

  /** Deletes the rate limit of {@code scope}; executions waiting on it start. */
  public void deleteRateLimit(RateLimitScope scope) {
    call(() -> scheduler().deleteRateLimit(ScheduleConvert.deleteRequest(scope)));
  }

  /** Every job of the platform; see {@link #listJobs(ListJobsRequest)}. */
  public Stream<Job> listJobs() {
    return listJobs(ListJobsRequest.getDefaultInstance());
  }

  /**
   * The jobs matching {@code filter}, fetched a page at a time as the stream is consumed,
   * following {@code next_page_token} ({@code filter}'s {@code page_size} sets the page size,
   * its {@code page_token} where to start). A failed page throws a {@link CronstreamException}
   * from the stream's terminal operation.
   */
  public Stream<Job> listJobs(ListJobsRequest filter) {
    return paginate(filter.getPageToken(), token -> {
      var page = scheduler().listJobs(filter.toBuilder().setPageToken(token).build());
      return new Page<>(page.getJobsList().stream().map(Convert::job).toList(), page.getNextPageToken());
    });
  }

  /** The executions of a job, newest first; see {@link #listJobs(ListJobsRequest)}. */
  public Stream<Execution> listExecutions(String jobId) {
    return listExecutions(ListExecutionsRequest.newBuilder().setJobId(jobId).build());
  }

  /** The executions matching {@code filter}, following {@code next_page_token}. */
  public Stream<Execution> listExecutions(ListExecutionsRequest filter) {
    return paginate(filter.getPageToken(), token -> {
      var page = scheduler().listExecutions(filter.toBuilder().setPageToken(token).build());
      return new Page<>(page.getExecutionsList().stream().map(Convert::execution).toList(), page.getNextPageToken());
    });
  }

  /** The log lines of an execution, oldest first, following {@code next_page_token}. */
  public Stream<LogLine> listExecutionLogs(String executionId) {
    return listExecutionLogs(ListExecutionLogsRequest.newBuilder().setExecutionId(executionId).build());
  }

  /** The log lines {@code request} selects, following {@code next_page_token}. */
  public Stream<LogLine> listExecutionLogs(ListExecutionLogsRequest request) {
    return paginate(request.getPageToken(), token -> {
      var page = scheduler().listExecutionLogs(request.toBuilder().setPageToken(token).build());
      return new Page<>(page.getLogsList().stream().map(Convert::logLine).toList(), page.getNextPageToken());
    });
  }

  /** Every alert of the platform, the most recently opened first; see {@link #listAlerts(ListAlertsRequest)}. */
  public Stream<Alert> listAlerts() {
    return listAlerts(ListAlertsRequest.getDefaultInstance());
  }

  /** A job's alerts, the most recently opened first. */
  public Stream<Alert> listAlerts(String jobId) {
    return listAlerts(ListAlertsRequest.newBuilder().setJobId(jobId).build());
  }

  /**
   * The alerts matching {@code filter}, following {@code next_page_token}: a job's, of some kinds,
   * in some states ({@code ListAlertsRequest.newBuilder().addKinds(HealthState.FAILING.proto())
   * .addStates(AlertState.OPEN.proto())}).
   */
  public Stream<Alert> listAlerts(ListAlertsRequest filter) {
    return paginate(filter.getPageToken(), token -> {
      var page = scheduler().listAlerts(filter.toBuilder().setPageToken(token).build());
      return new Page<>(page.getAlertsList().stream().map(Convert::alert).toList(), page.getNextPageToken());
    });
  }

  /**
   * Watches the platform's alert events after {@code afterCursor} (0: from now on; the cursor of
   * the last event handled, kept from an earlier watch or a webhook, to miss none in between),
   * handing each to {@code onEvent} on a thread of its own, until closed. A stream that breaks is
   * reopened with backoff after the last event {@code onEvent} returned from, so each comes once;
   * a watch from 0 resumes from where it started even before its first event. See {@link
   * AlertWatch}.
   *
   * <pre>{@code
   * try (AlertWatch watch = client.watchAlerts(saved, e -> page(e.type() + " " + e.alert().kind() + " " + e.alert().jobName()))) {
   *   watch.join(); // throws UnauthenticatedException on a revoked key
   * }
   * }</pre>
   */
  public AlertWatch watchAlerts(long afterCursor, Consumer<AlertEvent> onEvent) {
    AlertWatch watch = new AlertWatch(scheduler(), afterCursor, onEvent, new Backoff(Backoff.BASE, Backoff.CAP));
    watch.start();
    return watch;
  }

  /** Closes the connection this client made (not one given to {@link #wrap}). */
  @Override
  public void close() {
    if (owned == null) {
      return;
    }
    owned.shutdown();
    try {
      if (!owned.awaitTermination(5, TimeUnit.SECONDS)) {
        owned.shutdownNow();
      }
    } catch (InterruptedException e) {
      owned.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  // --- internals -------------------------------------------------------------

  interface Call<T> {
    T run();
  }

  static <T> T call(Call<T> c) {
    try {
      return c.run();
    } catch (RuntimeException e) {
      throw CronstreamException.from(e);
    }
  }

  record Page<T>(List<T> items, String nextToken) {}

  /** A lazy stream over pages: the first is fetched on the first element asked for. */
  static <T> Stream<T> paginate(String firstToken, Function<String, Page<T>> fetch) {
    Iterator<T> it = new Iterator<>() {
      private Iterator<T> page = null;
      private String token = firstToken;
      private boolean last = false;

      @Override
      public boolean hasNext() {
        while (page == null || !page.hasNext()) {
          if (last) {
            return false;
          }
          Page<T> p = call(() -> fetch.apply(token));
          page = p.items().iterator();
          token = p.nextToken();
          last = token.isEmpty();
        }
        return true;
      }

      @Override
      public T next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        return page.next();
      }
    };
    return StreamSupport.stream(Spliterators.spliteratorUnknownSize(it, Spliterator.ORDERED | Spliterator.NONNULL), false);
  }

  /** Adds the authorization header, unless the caller set one. */
  private static final class BearerInterceptor implements ClientInterceptor {
    private final String value;

    BearerInterceptor(String value) {
      this.value = value;
    }

    @Override
    public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
        MethodDescriptor<ReqT, RespT> method, CallOptions options, Channel next) {
      return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
        @Override
        public void start(Listener<RespT> listener, Metadata headers) {
          if (!headers.containsKey(AUTHORIZATION)) {
            headers.put(AUTHORIZATION, value);
          }
          super.start(listener, headers);
        }
      };
    }
  }
}
