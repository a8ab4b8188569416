using AutoBuilder.Core.Execution;
using AutoBuilder.Server.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Server.Executors.Local;

public static class LocalExecutorRegistration
{
    /// <summary>Executor:Kind = Local: each attempt's runner inside the server, or in a child process of its own.</summary>
    public static IServiceCollection AddLocalExecutor(this IServiceCollection services, RunnerPlacement runner)
    {
        if (runner == RunnerPlacement.Process)
        {
            services.AddSingleton<IBuildExecutor>(sp => ActivatorUtilities.CreateInstance<LocalProcessExecutor>(sp));
        }
        else
        {
            services.AddSingleton<IBuildExecutor>(sp => ActivatorUtilities.CreateInstance<InProcessRunnerExecutor>(sp));
        }

        return services;
    }
}
