package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import dev.cronstream.v1.CreateJobRequest;
import dev.cronstream.v1.CreateJobResponse;
import dev.cronstream.v1.CronTrigger;
import dev.cronstream.v1.ExecutionLog;
import dev.cronstream.v1.GetJobRequest;
import dev.cronstream.v1.GetJobResponse;
import dev.cronstream.v1.Job;
import dev.cronstream.v1.ListAlertsRequest;
import dev.cronstream.v1.ListAlertsResponse;
import dev.cronstream.v1.ListExecutionLogsRequest;
import dev.cronstream.v1.ListExecutionLogsResponse;
import dev.cronstream.v1.ListJobsRequest;
import dev.cronstream.v1.ListJobsResponse;
import dev.cronstream.v1.SchedulerServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The client against an in-process SchedulerService. */
class ClientTest {
  private final List<String> authorizations = new CopyOnWriteArrayList<>();
  private final List<Integer> pageSizes = new CopyOnWriteArrayList<>();
  private final List<ListAlertsRequest> alertRequests = new CopyOnWriteArrayList<>();
  private final List<Job> jobs = IntStream.range(0, 5)
      .mapToObj(i -> Job.newBuilder().setId("j" + i).setName("job " + i).build())
      .collect(Collectors.toList());
  private Server server;
  private ManagedChannel channel;
  private CronstreamClient client;

  class Scheduler extends SchedulerServiceGrpc.SchedulerServiceImplBase {
    @Override
    public void createJob(CreateJobRequest req, StreamObserver<CreateJobResponse> out) {
      if (req.getJob().getCron().getExpression().startsWith("61")) {
        out.onError(StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
            .setCode(Code.INVALID_ARGUMENT_VALUE)
            .setMessage("invalid job")
            .addDetails(Any.pack(BadRequest.newBuilder().addFieldViolations(BadRequest.FieldViolation.newBuilder()
                .setField("job.cron.expression").setDescription("minute 61 is out of range")).build()))
            .build()));
        return;
      }
      out.onNext(CreateJobResponse.newBuilder().setJob(req.getJob().toBuilder().setId("new")).build());
      out.onCompleted();
    }

    @Override
    public void getJob(GetJobRequest req, StreamObserver<GetJobResponse> out) {
      switch (req.getId()) {
        case "missing" -> out.onError(Status.NOT_FOUND.withDescription("job missing not found").asRuntimeException());
        case "cancelled" -> out.onError(Status.FAILED_PRECONDITION.asRuntimeException());
        default -> {
          out.onNext(GetJobResponse.newBuilder().setJob(Job.newBuilder().setId(req.getId())).build());
          out.onCompleted();
        }
      }
    }

    @Override
    public void listJobs(ListJobsRequest req, StreamObserver<ListJobsResponse> out) {
      pageSizes.add(req.getPageSize());
      int from = req.getPageToken().isEmpty() ? 0 : Integer.parseInt(req.getPageToken());
      int size = req.getPageSize() == 0 ? 50 : req.getPageSize();
      int to = Math.min(jobs.size(), from + size);
      ListJobsResponse.Builder r = ListJobsResponse.newBuilder().addAllJobs(jobs.subList(from, to));
      if (to < jobs.size()) {
        r.setNextPageToken(Integer.toString(to));
      }
      out.onNext(r.build());
      out.onCompleted();
    }

    @Override
    public void listAlerts(ListAlertsRequest req, StreamObserver<ListAlertsResponse> out) {
      alertRequests.add(req);
      boolean first = req.getPageToken().isEmpty();
      out.onNext(ListAlertsResponse.newBuilder()
          .addAlerts(FakeSchedulerService.event(first ? 1 : 2).getAlert().toBuilder().setJobId(req.getJobId()))
          .setNextPageToken(first ? "more" : "").build());
      out.onCompleted();
    }

    @Override
    public void listExecutionLogs(ListExecutionLogsRequest req, StreamObserver<ListExecutionLogsResponse> out) {
      if (req.getExecutionId().equals("unauth")) {
        out.onError(Status.UNAUTHENTICATED.asRuntimeException());
        return;
      }
      out.onNext(ListExecutionLogsResponse.newBuilder()
          .addLogs(ExecutionLog.newBuilder().setExecutionId(req.getExecutionId()).setMessage("hello")).build());
      out.onCompleted();
    }
  }

  @BeforeEach
  void setUp() throws Exception {
    String name = InProcessServerBuilder.generateName();
    ServerInterceptor auth = new ServerInterceptor() {
      @Override
      public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
          ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
        authorizations.add(headers.get(CronstreamClient.AUTHORIZATION));
        return next.startCall(call, headers);
      }
    };
    server = InProcessServerBuilder.forName(name).directExecutor()
        .addService(ServerInterceptors.intercept(new Scheduler(), auth)).build().start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    client = CronstreamClient.wrap(channel, "cs_secret");
  }

  @AfterEach
  void tearDown() {
    client.close();
    channel.shutdownNow();
    server.shutdownNow();
  }

  @Test
  void everyCallCarriesTheApiKey() {
    client.getJob("a");
    client.scheduler().getJob(GetJobRequest.newBuilder().setId("b").build());
    assertEquals(List.of("Bearer cs_secret", "Bearer cs_secret"), authorizations);
  }

  @Test
  void createJobReturnsTheJob() {
    dev.cronstream.Job job = client.createJob(Job.newBuilder().setName("n")
        .setCron(CronTrigger.newBuilder().setExpression("* * * * *")).build());
    assertEquals("new", job.id());
    assertEquals("n", client.createJob(CreateJobRequest.newBuilder().setJob(job.proto()).setRequestId("r").build()).name());
  }

  @Test
  void badCronIsAnInvalidArgumentNamingTheField() {
    InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> client.createJob(
        Job.newBuilder().setCron(CronTrigger.newBuilder().setExpression("61 * * * *")).build()));
    assertEquals(List.of(new FieldViolation("job.cron.expression", "minute 61 is out of range")), e.violations());
  }

  @Test
  void statusCodesBecomeTypedExceptions() {
    NotFoundException nf = assertThrows(NotFoundException.class, () -> client.getJob("missing"));
    assertEquals(Status.Code.NOT_FOUND, nf.code());
    assertThrows(FailedPreconditionException.class, () -> client.getJob("cancelled"));
    assertThrows(UnauthenticatedException.class, () -> client.listExecutionLogs("unauth").count());
  }

  @Test
  void listJobsFollowsPageTokensLazily() {
    List<Job> all = client.listJobs(ListJobsRequest.newBuilder().setPageSize(2).build()).map(dev.cronstream.Job::proto)
        .collect(Collectors.toList());
    assertEquals(jobs, all);
    assertEquals(List.of(2, 2, 2), pageSizes);

    pageSizes.clear();
    List<Job> first = client.listJobs(ListJobsRequest.newBuilder().setPageSize(2).build()).limit(1)
        .map(dev.cronstream.Job::proto).collect(Collectors.toList());
    assertEquals(List.of(jobs.get(0)), first);
    assertEquals(List.of(2), pageSizes, "only the pages consumed are fetched");

    List<Job> iterated = new ArrayList<>();
    for (dev.cronstream.Job j : (Iterable<dev.cronstream.Job>) client.listJobs()::iterator) {
      iterated.add(j.proto());
    }
    assertEquals(jobs, iterated);
  }

  @Test
  void listAlertsFollowsPageTokensWithItsFilter() {
    ListAlertsRequest filter = ListAlertsRequest.newBuilder().setJobId("j1")
        .addKinds(HealthState.FAILING.proto()).addStates(AlertState.OPEN.proto()).build();
    List<Alert> alerts = client.listAlerts(filter).collect(Collectors.toList());
    assertEquals(List.of(HealthState.FAILING, HealthState.LATE), alerts.stream().map(Alert::kind).collect(Collectors.toList()));
    assertEquals(List.of("j1", "j1"), alerts.stream().map(Alert::jobId).collect(Collectors.toList()));
    assertEquals(List.of("", "more"), alertRequests.stream().map(ListAlertsRequest::getPageToken).collect(Collectors.toList()));
    assertEquals(filter.getKindsList(), alertRequests.get(1).getKindsList(), "every page keeps the filter");
    assertEquals("j2", client.listAlerts("j2").findFirst().orElseThrow().jobId());
  }

  @Test
  void listExecutionLogs() {
    List<LogLine> lines = client.listExecutionLogs("e1").collect(Collectors.toList());
    assertEquals(List.of("hello"), lines.stream().map(LogLine::message).collect(Collectors.toList()));
    assertEquals("e1", lines.get(0).executionId());
    assertEquals("e1", lines.get(0).proto().getExecutionId());
  }

  @Test
  void addressesAcceptAScheme() {
    assertEquals("127.0.0.1:50051", CronstreamClient.target("127.0.0.1:50051"));
    assertEquals("h:1", CronstreamClient.target("http://h:1/"));
    assertEquals("h:1", CronstreamClient.target("HTTPS://h:1"));
  }
}
