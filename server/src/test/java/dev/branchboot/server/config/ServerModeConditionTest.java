package dev.branchboot.server.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.core.env.StandardEnvironment;
import org.springframework.core.env.SystemEnvironmentPropertySource;

/** The mode follows branchboot.upstreams as bound, whichever way the list is written. */
class ServerModeConditionTest {
    /** Stands for a bean of branch mode. */
    @BranchMode
    static class BranchBean {
    }

    /** Stands for a bean of origin mode. */
    @OriginMode
    static class OriginBean {
    }

    @Configuration(proxyBeanMethods = false)
    @Import({BranchBean.class, OriginBean.class})
    static class Beans {
        @Bean
        String marker() {
            return "beans";
        }
    }

    private final ApplicationContextRunner runner = new ApplicationContextRunner().withUserConfiguration(Beans.class);

    @Test
    void noUpstreamsIsOriginMode() {
        runner.run(context -> {
            assertThat(context).hasSingleBean(OriginBean.class).doesNotHaveBean(BranchBean.class);
        });
        runner.withPropertyValues("branchboot.upstreams=").run(context -> {
            assertThat(context).hasSingleBean(OriginBean.class).doesNotHaveBean(BranchBean.class);
        });
    }

    @Test
    void aCommaListIsBranchMode() {
        runner.withPropertyValues("branchboot.upstreams=http://origin:8080/images,file:/mnt/images").run(context -> {
            assertThat(context).hasSingleBean(BranchBean.class).doesNotHaveBean(OriginBean.class);
        });
    }

    @Test
    void indexedEntriesAreBranchMode() {
        runner.withPropertyValues("branchboot.upstreams[0]=http://origin:8080/images").run(context -> {
            assertThat(context).hasSingleBean(BranchBean.class).doesNotHaveBean(OriginBean.class);
        });
    }

    @Test
    void anEnvironmentVariableListIsBranchMode() {
        // Boot maps BRANCHBOOT_UPSTREAMS_0 to branchboot.upstreams[0] in the source named systemEnvironment.
        runner.withInitializer(context -> context.getEnvironment().getPropertySources().replace(
                        StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME,
                        new SystemEnvironmentPropertySource(StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME,
                                Map.of("BRANCHBOOT_UPSTREAMS_0", "http://origin:8080/images"))))
                .run(context -> assertThat(context).hasSingleBean(BranchBean.class).doesNotHaveBean(OriginBean.class));
    }
}
